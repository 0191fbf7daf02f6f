"""Chat: the messages of each video room, kept for history and moderation, and who is muted."""
