// A long-lived client_golang program for tests/integration/cumulative_test.ts: counts and
// pushes its running totals with Push() (delimited protobuf) every round, never resetting.
// Built in GOPATH mode against Debian's packages.
//
// go_cumulative <gateway> <instance> <rounds>

package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

func main() {
	url, instance := os.Args[1], os.Args[2]
	rounds, _ := strconv.Atoi(os.Args[3])
	jobs := prometheus.NewCounter(prometheus.CounterOpts{Name: "go_worker_jobs_total", Help: "Jobs done."})
	seconds := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "go_worker_job_seconds", Help: "Job time.", Buckets: []float64{0.1, 1}})
	pusher := push.New(url, "workers").Grouping("instance", instance).Collector(jobs).Collector(seconds)
	for round := 1; round <= rounds; round++ {
		jobs.Add(float64(round))
		seconds.Observe(0.5)
		if err := pusher.Push(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
