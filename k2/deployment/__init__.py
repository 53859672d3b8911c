"""What one AWS deployment of K2 is made of: the typed configuration the CDK app and `k2 cost`
both read, so the stacks and the cost model can never describe two different systems."""
