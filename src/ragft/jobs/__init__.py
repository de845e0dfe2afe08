"""The jobs: `compare` the arms on a workspace (`ragft.jobs.compare`), and the `demo` on the sample corpus (`ragft.jobs.demo`)."""

from ragft.jobs.compare import ProbePlan, build_arms, check_comparison, plan_probes, run_comparison
from ragft.jobs.demo import DEMO_PROBES, DEMO_SETTINGS, prepare_demo_workspace, run_demo

__all__ = [
    "DEMO_PROBES",
    "DEMO_SETTINGS",
    "ProbePlan",
    "build_arms",
    "check_comparison",
    "plan_probes",
    "prepare_demo_workspace",
    "run_comparison",
    "run_demo",
]
