"""The peer: what a user would write without this package (Powertools + boto3 + Sinch's SDK)."""
