"""MITRE ATLAS: the technique catalogue rules and runbooks are checked against, and the
Navigator layer that shows which techniques the deployed rules cover."""
