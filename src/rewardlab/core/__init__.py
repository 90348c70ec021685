"""The ground floor every other part stands on: params, paths, atomic outputs, errors, devices and
the Hub probe. It imports nothing else of rewardlab."""
