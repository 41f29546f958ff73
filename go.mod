module github.com/mqgate/mqgate

go 1.26.8
