"""Start and verify a number against the local stack of `make run`, with the installed client:

    pip install ./clients/python && python clients/python/examples/verify.py

PHONE_VERIFICATION_URL and SANDBOX_URL point it at another local stack (defaults: ports 3000 and 3001).
"""

import os

import requests

from phone_verification_client import Client, SigV4Auth

api = os.environ.get("PHONE_VERIFICATION_URL", "http://127.0.0.1:3000")
sandbox = os.environ.get("SANDBOX_URL", "http://127.0.0.1:3001")

# Signed with your AWS credentials, as against a deployed stack (Client(ApiUrl)); make run checks that a call
# is signed, not by whom, so any credentials do when you have none.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
client = Client(api, auth=SigV4Auth(region="eu-west-1"))
started = client.start("+46700000001")
# Only because this is the local stack: the phone is the Sinch sandbox, and its inbox shows the SMS's code.
# In your app, the user types the code they received.
code = requests.get(f"{sandbox}/sandbox/v1/inbox/%2B46700000001", timeout=10).json()["messages"][-1]["code"]
print(started.id, client.report(started.id, code=code).status)
