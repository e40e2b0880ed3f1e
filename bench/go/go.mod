module goro.invalid/bench

go 1.19
