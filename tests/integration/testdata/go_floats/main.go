// Answers, line by line, how Prometheus' Go code reads and writes numbers, for
// tests/integration/go_numbers_test.ts. Each input line is a command and an argument:
//
//	f <16 hex digits>  the float64 with those bits, as expfmt's writeFloat writes it
//	p <token>          the token as expfmt's parseFloat reads it: the float's bits, or "err"
//	i <token>          the token as expfmt reads a timestamp (strconv.ParseInt base 10, 64 bits)
//
// writeFloat and parseFloat are copied from prometheus/common expfmt (text_create.go and
// text_parse.go, v0.39), which are unexported.
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

func writeFloat(f float64) string {
	switch {
	case f == 1:
		return "1"
	case f == 0:
		return "0"
	case f == -1:
		return "-1"
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	default:
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
}

func parseFloat(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, fmt.Errorf("unsupported character in float")
	}
	return strconv.ParseFloat(s, 64)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		line := in.Text()
		command, argument := line[0], line[2:]
		switch command {
		case 'f':
			bits, err := strconv.ParseUint(argument, 16, 64)
			if err != nil {
				panic(err)
			}
			fmt.Fprintln(out, writeFloat(math.Float64frombits(bits)))
		case 'p':
			if f, err := parseFloat(argument); err != nil {
				fmt.Fprintln(out, "err")
			} else {
				fmt.Fprintf(out, "%016x\n", math.Float64bits(f))
			}
		case 'i':
			if _, err := strconv.ParseInt(argument, 10, 64); err != nil {
				fmt.Fprintln(out, "err")
			} else {
				fmt.Fprintln(out, "ok")
			}
		}
	}
}
