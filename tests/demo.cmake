# tests/test_demo_smoke.sh runs launch/demo.sh end to end (learner ranks + rollout workers + two evals)
# with tiny overrides. nosan: it runs the Release binaries through mpirun and takes ~20-40 s there.
if(TEST test_demo_smoke)
  set_tests_properties(test_demo_smoke PROPERTIES LABELS nosan TIMEOUT 120)
endif()
