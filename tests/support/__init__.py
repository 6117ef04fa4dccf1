"""Test plumbing shared by the test modules: real servers on loopback, free ports."""
