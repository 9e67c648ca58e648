"""Where documents come from and where results go: local folders or S3, behind one interface."""
