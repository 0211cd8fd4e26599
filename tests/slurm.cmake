# tests/test_slurm.sh starts a private Slurm cluster (launch/slurm/local_cluster.sh) and runs the real
# learner and rollout binaries through launch/slurm/*.sbatch. It needs root and slurm-wlm + munge;
# without them it exits 77, which ctest reports as skipped. nosan: it runs the Release binaries.
if(TEST test_slurm)
  set_tests_properties(test_slurm PROPERTIES LABELS nosan SKIP_RETURN_CODE 77 TIMEOUT 180)
endif()
