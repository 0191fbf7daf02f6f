"""Courses: courses and their videos, enrollments, reviews, and who may see what."""
