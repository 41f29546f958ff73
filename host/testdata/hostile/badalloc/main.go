// Command badalloc is a hostile allocation strategy for the host's tests: its answer,
// chosen by its configuration, breaks the ABI's rules.
//
//	range     an index past the last queue
//	negative  index -1
//	dup       the first queue twice
//	toomany   more indices than queues
//	garbage   the first queue, after allocating 1,000 small objects it drops
//	good      the first queue only
package main

import "github.com/mqgate/mqgate/sdk"

var (
	mode string
	n    int
)

func init() {
	sdk.Configure(func(config []byte) error {
		mode = string(config)
		return nil
	})
	sdk.RegisterAllocator(func(req sdk.AllocateRequest) []int {
		switch mode {
		case "range":
			return []int{len(req.Queues)}
		case "negative":
			return []int{-1}
		case "dup":
			return []int{0, 0}
		case "toomany":
			return make([]int, len(req.Queues)+1)
		case "garbage":
			var list []*[4]int
			for i := range 1000 {
				list = append(list, &[4]int{i})
			}
			n += len(list)
		}
		return []int{0}
	})
}

func main() {}
