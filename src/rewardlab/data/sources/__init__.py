"""Where preference pairs come from: local files and folders, the Hub, the builtin generator."""
