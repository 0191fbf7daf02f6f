-- Run once by the postgres image on an empty volume (/docker-entrypoint-initdb.d):
-- one database per service that has one; each service migrates its own on start.
-- Keep in step with services/kernel/catalogue.py (tests/deployment checks it).
CREATE DATABASE auth;
CREATE DATABASE courses;
CREATE DATABASE progress;
CREATE DATABASE quizzes;
CREATE DATABASE chat;
