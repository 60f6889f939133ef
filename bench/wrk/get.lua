dofile(os.getenv("BENCH_WRK") .. "/common.lua")
