# The CUDA tests exit 77 when the build has no CUDA backend or the machine has no GPU: ctest must
# report them as skipped, never as passed.
foreach(t test_cuda_ops test_cuda_model)
  if(TEST ${t})
    # nosan: ASan reserves the address range the CUDA driver maps (the sanitizer build is CPU-only anyway)
    set_tests_properties(${t} PROPERTIES SKIP_RETURN_CODE 77 LABELS "cuda;nosan" TIMEOUT 300)
  endif()
endforeach()

# GPU benchmark (not a test): build-gpu/bin/bench_cuda, run by tests/gpu/device_check.sh.
if(RLVR_HAVE_CUDA AND EXISTS ${CMAKE_SOURCE_DIR}/tests/bench/bench_cuda.c)
  add_executable(bench_cuda ${CMAKE_SOURCE_DIR}/tests/bench/bench_cuda.c)
  target_link_libraries(bench_cuda PRIVATE rlvr_core)
endif()
