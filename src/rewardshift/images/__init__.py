"""The image world (issue 11): renders with a known physical truth, measured from pixels."""
