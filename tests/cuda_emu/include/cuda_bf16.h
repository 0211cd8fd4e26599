// Stand-in for the CUDA header of the same name (tests/cuda_emu/cuda_emu.h).
#pragma once
#include "../cuda_emu.h"
