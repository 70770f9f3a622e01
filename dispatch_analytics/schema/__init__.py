"""The contract every layer shares: canonical fields, table schemas, the interval registry.

Layer 0: importable from anywhere in the package; imports nothing above :mod:`..errors`.
"""
