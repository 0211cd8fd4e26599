# Benchmark program for the CPU training engine (not a test): build/bin/bench_train.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/bench/bench_train.c)
  add_executable(bench_train ${CMAKE_SOURCE_DIR}/tests/bench/bench_train.c)
  target_link_libraries(bench_train PRIVATE rlvr_core)
endif()
