"""Jobs: each one runs an engine, writes its run directory and has the report drawn.

The floor above the engines and the report (see tests/test_layers.py): an engine computes and
returns a result, a renderer in :mod:`rewardshift.report` draws it, and a job composes the two
around a :class:`~rewardshift.rundir.RunDir` -- the finished-run guard, resuming and the order
of writes (``summary.json`` last) live here once. The command line calls jobs only.

==========================  =================================================================
:mod:`~.jobs.measure`       ``write_measure_run``, ``measure_job`` (a sweep's job)
:mod:`~.jobs.lab`           ``write_lab_run``, ``lab_job`` (a sweep's job)
:mod:`~.jobs.sweep`         ``run_sweep``: a grid of jobs, serial, in processes or on Ray
:mod:`~.jobs.lm`            ``lm_job``: the tiny-LM world with TRL
:mod:`~.jobs.audit`         ``audit_job``: a base and a tuned model probed
:mod:`~.jobs.prefs`         ``write_prefs_run``: a preference data set's biases
:mod:`~.jobs.realpair`      ``real_pair_job``: a matched real pair made and audited
:mod:`~.jobs.story`         ``run_story``: the four parts of the demo in one report
==========================  =================================================================

Submodules are imported on use, so ``import rewardshift.jobs`` needs no optional extra.
"""

from rewardshift.jobs.base import RunExistsError, claim_run_dir

__all__ = ["RunExistsError", "claim_run_dir"]
