"""The cost model: what a K2 deployment costs per month and per million messages.

Pure arithmetic over :class:`~k2.deployment.config.DeploymentConfig`, a frozen table of
published AWS prices (:mod:`k2.cost.prices`) and stated workload assumptions
(:mod:`k2.cost.workload`). No AWS calls, no network: ``k2 cost`` prints it.
"""
