"""The use cases: starting, reporting and reading verifications, over the ports only (no AWS SDK, no HTTP
client, no store or Sinch module: a unit test walks the imports to keep it so)."""
