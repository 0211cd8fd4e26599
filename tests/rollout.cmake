# Rollout worker test helpers (included at the end of CMakeLists.txt).
#   coord_harness   the real coordinator behind a CLI: enqueues arithmetic prompts, publishes weights,
#                   collects and checks groups (used by tests/test_rollout*.py and tests/bench/bench_rollout.sh)
add_executable(coord_harness ${CMAKE_SOURCE_DIR}/tests/coord_harness.c)
target_link_libraries(coord_harness PRIVATE rlvr_core)
set_target_properties(coord_harness PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

foreach(t test_rollout test_rollout_kill test_rollout_restart)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES TIMEOUT 120)
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "RLVR_COORD_HARNESS=$<TARGET_FILE:coord_harness>")
  endif()
endforeach()
if(TEST test_eval_cli)
  set_tests_properties(test_eval_cli PROPERTIES TIMEOUT 120)
  set_property(TEST test_eval_cli APPEND PROPERTY ENVIRONMENT "RLVR_COORD_HARNESS=$<TARGET_FILE:coord_harness>")
endif()
