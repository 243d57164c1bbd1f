"""User data: rows from files, folders or the hub, preference rows, and the checks run before any model loads."""
