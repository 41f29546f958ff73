package instance

// State is the service state of an Instance, as Java's ServiceState.
type State int32

const (
	// Created: made by New, not started. Groups may register; the remoting API is not
	// available yet.
	Created State = iota
	// Running: started; periodic tasks run and the remoting API is available.
	Running
	// ShutDown: stopped by Shutdown; final.
	ShutDown
	// StartFailed: Start failed; final (as in Java, an instance starts once): make another.
	StartFailed
)

var stateNames = [...]string{"CREATE_JUST", "RUNNING", "SHUTDOWN_ALREADY", "START_FAILED"}

// String returns Java's ServiceState name.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(?)"
}

func (s State) description() string {
	switch s {
	case Created:
		return "not started"
	case Running:
		return "running already"
	case ShutDown:
		return "shut down"
	case StartFailed:
		return "a failed start (make a new instance)"
	}
	return s.String()
}

// State returns the current service state.
func (i *Instance) State() State { return State(i.state.Load()) }

func (i *Instance) setState(s State) { i.state.Store(int32(s)) }
