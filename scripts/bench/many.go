// Command many parks N goroutines (default 10000) at the bottom of a short
// recursion, prints "ready <pid>", and waits to be dumped with kill -QUIT.
// The Go side of the dump benchmark (scripts/bench-dump.sh); grt's twin is
// runtime/examples/many.rs.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

//go:noinline
func descend(n int, c chan int) int {
	if n == 0 {
		return <-c
	}
	return descend(n-1, c) + 1
}

func main() {
	n := 10000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	c := make(chan int)
	for i := 0; i < n; i++ {
		go descend(i%8, c)
	}
	time.Sleep(200 * time.Millisecond)
	fmt.Println("ready", os.Getpid())
	time.Sleep(time.Hour)
}
