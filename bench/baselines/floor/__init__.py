"""The floor: boto3 + requests, one signed Sinch start and one put_item, nothing else."""
