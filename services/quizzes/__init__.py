"""Quizzes: instructors' multiple-choice quizzes, graded on the server, attempts counted."""
