// A client_golang program for tests/integration/clients_test.ts: pushes with the push package,
// whose default format is delimited protobuf. Built in GOPATH mode against Debian's packages.

package main

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

func main() {
	url, action := os.Args[1], os.Args[2]
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "go_jobs_total", Help: "Jobs done."}, []string{"kind"})
	jobs.WithLabelValues("resize").Add(4)
	seconds := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "go_job_seconds", Help: "Job time.", Buckets: []float64{0.1, 1}})
	seconds.Observe(0.5)
	size := prometheus.NewSummary(prometheus.SummaryOpts{Name: "go_job_bytes", Help: "Job size.", Objectives: map[float64]float64{0.5: 0.05}})
	size.Observe(300)
	queue := prometheus.NewGauge(prometheus.GaugeOpts{Name: "go_queue", Help: "Queue length."})
	queue.Set(7)
	pusher := push.New(url, "go batch").Grouping("region", "eu/west").
		Collector(jobs).Collector(seconds).Collector(size).Collector(queue)
	var err error
	switch action {
	case "add":
		err = pusher.Add()
	case "push":
		err = pusher.Push()
	default:
		err = pusher.Delete()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
