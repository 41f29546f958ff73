package telemetry

import (
	"bufio"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

// The Prometheus text exposition (format 0.0.4) of what a ManualReader collects, written
// here rather than through the Prometheus client library, which the main module does not
// otherwise need. Names follow the OTLP-to-Prometheus compatibility rules: dots and other
// characters become underscores, the unit becomes a suffix ("s" -> _seconds, "By" ->
// _bytes; annotations such as "{message}" are dropped), monotonic sums get _total, and
// histograms their _bucket/_sum/_count series. The resource is the target_info gauge.

const promContentType = "text/plain; version=0.0.4; charset=utf-8"

type promHandler struct {
	reader *sdkmetric.ManualReader
	res    *resource.Resource
}

func (h *promHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(r.Context(), &rm); err != nil {
		http.Error(w, "collecting metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", promContentType)
	bw := bufio.NewWriter(w)
	writeExposition(bw, h.res, &rm)
	_ = bw.Flush()
}

// family is one metric name's series, which the format wants together.
type family struct {
	name, help, typ string
	lines           []string
}

func writeExposition(w *bufio.Writer, res *resource.Resource, rm *metricdata.ResourceMetrics) {
	if res != nil && res.Len() > 0 {
		w.WriteString("# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info")
		writeLabels(w, res.Attributes(), "", "")
		w.WriteString(" 1\n")
	}
	fams := map[string]*family{}
	var order []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fam := func(name, typ string) *family {
				f := fams[name]
				if f == nil {
					f = &family{name: name, help: m.Description, typ: typ}
					fams[name] = f
					order = append(order, name)
				}
				return f
			}
			base := promName(m.Name, m.Unit)
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				addSum(fam, base, d.IsMonotonic, d.DataPoints, func(v int64) float64 { return float64(v) })
			case metricdata.Sum[float64]:
				addSum(fam, base, d.IsMonotonic, d.DataPoints, func(v float64) float64 { return v })
			case metricdata.Gauge[int64]:
				f := fam(base, "gauge")
				for _, dp := range d.DataPoints {
					f.lines = append(f.lines, sample(base, dp.Attributes.ToSlice(), "", "", float64(dp.Value)))
				}
			case metricdata.Gauge[float64]:
				f := fam(base, "gauge")
				for _, dp := range d.DataPoints {
					f.lines = append(f.lines, sample(base, dp.Attributes.ToSlice(), "", "", dp.Value))
				}
			case metricdata.Histogram[float64]:
				addHistogram(fam(base, "histogram"), base, d.DataPoints)
			case metricdata.Histogram[int64]:
				addHistogram(fam(base, "histogram"), base, d.DataPoints)
			}
		}
	}
	slices.Sort(order)
	for _, name := range order {
		f := fams[name]
		if f.help != "" {
			w.WriteString("# HELP " + name + " " + escapeHelp(f.help) + "\n")
		}
		w.WriteString("# TYPE " + name + " " + f.typ + "\n")
		for _, l := range f.lines {
			w.WriteString(l)
		}
	}
}

func addSum[N int64 | float64](fam func(string, string) *family, base string, monotonic bool,
	dps []metricdata.DataPoint[N], val func(N) float64) {
	name, typ := base, "gauge"
	if monotonic {
		name, typ = base+"_total", "counter"
	}
	f := fam(name, typ)
	for _, dp := range dps {
		f.lines = append(f.lines, sample(name, dp.Attributes.ToSlice(), "", "", val(dp.Value)))
	}
}

func addHistogram[N int64 | float64](f *family, base string, dps []metricdata.HistogramDataPoint[N]) {
	for _, dp := range dps {
		attrs := dp.Attributes.ToSlice()
		var cum uint64
		for i, b := range dp.Bounds {
			cum += dp.BucketCounts[i]
			f.lines = append(f.lines, sample(base+"_bucket", attrs, "le", formatFloat(b), float64(cum)))
		}
		f.lines = append(f.lines, sample(base+"_bucket", attrs, "le", "+Inf", float64(dp.Count)))
		f.lines = append(f.lines, sample(base+"_sum", attrs, "", "", float64(dp.Sum)))
		f.lines = append(f.lines, sample(base+"_count", attrs, "", "", float64(dp.Count)))
	}
}

func sample(name string, attrs []attribute.KeyValue, extraK, extraV string, v float64) string {
	var b strings.Builder
	b.WriteString(name)
	bw := bufio.NewWriter(&b)
	writeLabels(bw, attrs, extraK, extraV)
	_ = bw.Flush()
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
	return b.String()
}

func writeLabels(w *bufio.Writer, attrs []attribute.KeyValue, extraK, extraV string) {
	if len(attrs) == 0 && extraK == "" {
		return
	}
	w.WriteByte('{')
	first := true
	for _, kv := range attrs {
		if !first {
			w.WriteByte(',')
		}
		first = false
		w.WriteString(sanitize(string(kv.Key)))
		w.WriteString(`="`)
		w.WriteString(escapeLabel(kv.Value.String()))
		w.WriteByte('"')
	}
	if extraK != "" {
		if !first {
			w.WriteByte(',')
		}
		w.WriteString(extraK + `="` + extraV + `"`)
	}
	w.WriteByte('}')
}

// promName converts an OTel metric name and unit to a Prometheus metric name.
func promName(name, unit string) string {
	n := sanitize(name)
	if s := unitSuffix(unit); s != "" && !strings.HasSuffix(n, "_"+s) {
		n += "_" + s
	}
	return n
}

func unitSuffix(unit string) string {
	switch unit {
	case "s":
		return "seconds"
	case "ms":
		return "milliseconds"
	case "By":
		return "bytes"
	case "1", "":
		return ""
	}
	if strings.HasPrefix(unit, "{") {
		return "" // an annotation, such as {message}
	}
	return sanitize(unit)
}

// sanitize maps a name to [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no colon), collapsing runs
// of underscores.
func sanitize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	prevUnderscore := false
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			r = '_'
		}
		if r == '_' && prevUnderscore {
			continue
		}
		prevUnderscore = r == '_'
		b.WriteRune(r)
	}
	return b.String()
}

func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
