"""The fraud guard's traffic simulator: ``python -m fraud_sim`` (``make fraud-sim``).

Seeded traffic (pumping into one prefix, spread over many, low and slow; a legitimate burst in a new
prefix; steady legitimate traffic in many countries) drives the product's real handlers through the
local stack, on a simulated clock, and one table says what the guard let through, what it refused and
what that saved. See README, "Fraud guard: the simulator".
"""
