"""SIPp tooling for tests, demos and load tests: free ports, a UAS runner, DTMF captures."""
