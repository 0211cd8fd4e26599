# Benchmark program for the CPU training engine (not a test): build/bin/bench_train.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/bench/bench_train.c)
  add_executable(bench_train ${CMAKE_SOURCE_DIR}/tests/bench/bench_train.c)
  target_link_libraries(bench_train PRIVATE rlvr_core)
endif()
# LD_PRELOAD shim timing the cblas_sgemm calls of bench_train (docs/benchmarks.md, "Training engine").
add_library(gemm_time SHARED ${CMAKE_SOURCE_DIR}/tests/bench/gemm_time.c)
target_link_libraries(gemm_time PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(gemm_time PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
