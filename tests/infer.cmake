# Benchmark program for the inference path (not a test): build/bin/bench_sampling.
add_executable(bench_sampling ${CMAKE_SOURCE_DIR}/tests/bench/bench_sampling.c)
target_link_libraries(bench_sampling PRIVATE rlvr_core)
