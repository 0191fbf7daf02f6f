"""Progress: how far each student got in each video, and how much of a course they completed."""
