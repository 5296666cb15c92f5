"""Crowd expertise (issue 7): label intake and offline consensus, active learning, the Label Studio bridge.

* :mod:`gbv.crowd.labels` -- ``gbv labels import`` and ``gbv consensus`` (the same GX validation and consensus
  code as the nightly assets, over files);
* :mod:`gbv.crowd.active` -- which upcoming lots to send to which (pseudonymous) experts each night;
* :mod:`gbv.crowd.labelstudio` -- the labelling interface, project, tasks and annotations in Label Studio;
* :mod:`gbv.crowd.simulate`, :mod:`gbv.crowd.bench` -- ``gbv bench consensus`` (simulated panels);
* :mod:`gbv.crowd.cli` -- the command-line glue.
"""
