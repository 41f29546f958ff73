package remoting

// Version494 is the version Apache RocketMQ 4.9.4 writes in its commands: the ordinal of
// MQVersion.Version.V4_9_4.
const Version494 int32 = 401

// RouteInfoRequest is the header of GET_ROUTEINFO_BY_TOPIC (105), Java's
// GetRouteInfoRequestHeader. The answer is a TopicRouteData body, or TOPIC_NOT_EXIST.
type RouteInfoRequest struct {
	Topic string
	// AcceptStandardJSONOnly asks for TopicRouteData.EncodeStandard whatever the version;
	// null (not written) unless true.
	AcceptStandardJSONOnly bool
}

var routeInfoKeys = [...]string{"topic", "acceptStandardJsonOnly"}

// EncodeFields writes the fields in declaration order.
func (h *RouteInfoRequest) EncodeFields(w *FieldWriter) {
	w.String("topic", h.Topic)
	if h.AcceptStandardJSONOnly {
		w.Bool("acceptStandardJsonOnly", true)
	}
}

// DecodeFields reads h from ext; topic is required.
func (h *RouteInfoRequest) DecodeFields(ext ExtFields) error {
	*h = RouteInfoRequest{}
	d := fieldDecoder{header: "GetRouteInfoRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "topic":
			h.Topic = d.str(0, f)
		case "acceptStandardJsonOnly":
			h.AcceptStandardJSONOnly = d.bool(1, f)
		}
	}
	return d.finish(1, routeInfoKeys[:])
}

// StandardJSON reports whether a 4.9.4 NameServer answers this request, sent with the
// given command version, with TopicRouteData.EncodeStandard (quoted broker ids) rather
// than Encode: when the client is 4.9.4 or newer, or asks for it.
func (h *RouteInfoRequest) StandardJSON(version int32) bool {
	return version >= Version494 || h.AcceptStandardJSONOnly
}

// RegisterBrokerRequest is the header of REGISTER_BROKER (103), Java's
// RegisterBrokerRequestHeader: a broker announcing itself and its topics (the body, a
// RegisterBrokerBody) to a NameServer every 30 s.
type RegisterBrokerRequest struct {
	BrokerName   string
	BrokerAddr   string
	ClusterName  string
	HAServerAddr string
	BrokerID     int64 // 0 for a master
	Compressed   bool  // the body is RegisterBrokerBody.Encode(true)
	BodyCRC32    int32 // CRC32 of the body, masked to 31 bits; 0 means unchecked
}

var registerBrokerKeys = [...]string{"brokerName", "brokerAddr", "clusterName", "haServerAddr",
	"brokerId", "compressed", "bodyCrc32"}

// EncodeFields writes the fields in declaration order.
func (h *RegisterBrokerRequest) EncodeFields(w *FieldWriter) {
	w.String("brokerName", h.BrokerName)
	w.String("brokerAddr", h.BrokerAddr)
	w.String("clusterName", h.ClusterName)
	w.String("haServerAddr", h.HAServerAddr)
	w.Int("brokerId", h.BrokerID)
	w.Bool("compressed", h.Compressed)
	w.Int("bodyCrc32", int64(h.BodyCRC32))
}

// DecodeFields reads h from ext; all but compressed and bodyCrc32 are required.
func (h *RegisterBrokerRequest) DecodeFields(ext ExtFields) error {
	*h = RegisterBrokerRequest{}
	d := fieldDecoder{header: "RegisterBrokerRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "brokerName":
			h.BrokerName = d.str(0, f)
		case "brokerAddr":
			h.BrokerAddr = d.str(1, f)
		case "clusterName":
			h.ClusterName = d.str(2, f)
		case "haServerAddr":
			h.HAServerAddr = d.str(3, f)
		case "brokerId":
			h.BrokerID = d.int64(4, f)
		case "compressed":
			h.Compressed = d.bool(5, f)
		case "bodyCrc32":
			h.BodyCRC32 = d.int32(6, f)
		}
	}
	return d.finish(1<<5-1, registerBrokerKeys[:])
}

// RegisterBrokerResponse is the header of the answer to REGISTER_BROKER, Java's
// RegisterBrokerResponseHeader: for a slave, where its master is. Both fields are
// nullable; with both empty the header still makes Java write "extFields":{}.
type RegisterBrokerResponse struct {
	HAServerAddr string
	MasterAddr   string
}

// EncodeFields writes the non-empty fields in declaration order.
func (h *RegisterBrokerResponse) EncodeFields(w *FieldWriter) {
	if h.HAServerAddr != "" {
		w.String("haServerAddr", h.HAServerAddr)
	}
	if h.MasterAddr != "" {
		w.String("masterAddr", h.MasterAddr)
	}
}

// DecodeFields reads h from ext; nothing is required.
func (h *RegisterBrokerResponse) DecodeFields(ext ExtFields) error {
	*h = RegisterBrokerResponse{}
	for i := range ext {
		switch ext[i].Key {
		case "haServerAddr":
			h.HAServerAddr = ext[i].Value
		case "masterAddr":
			h.MasterAddr = ext[i].Value
		}
	}
	return nil
}

// UnregisterBrokerRequest is the header of UNREGISTER_BROKER (104), Java's
// UnRegisterBrokerRequestHeader, sent by a broker at shutdown.
type UnregisterBrokerRequest struct {
	BrokerName  string
	BrokerAddr  string
	ClusterName string
	BrokerID    int64
}

// EncodeFields writes the fields in declaration order.
func (h *UnregisterBrokerRequest) EncodeFields(w *FieldWriter) {
	w.String("brokerName", h.BrokerName)
	w.String("brokerAddr", h.BrokerAddr)
	w.String("clusterName", h.ClusterName)
	w.Int("brokerId", h.BrokerID)
}

var unregisterBrokerKeys = [...]string{"brokerName", "brokerAddr", "clusterName", "brokerId"}

// DecodeFields reads h from ext; all fields are required.
func (h *UnregisterBrokerRequest) DecodeFields(ext ExtFields) error {
	*h = UnregisterBrokerRequest{}
	d := fieldDecoder{header: "UnRegisterBrokerRequestHeader"}
	for i := range ext {
		f := &ext[i]
		switch f.Key {
		case "brokerName":
			h.BrokerName = d.str(0, f)
		case "brokerAddr":
			h.BrokerAddr = d.str(1, f)
		case "clusterName":
			h.ClusterName = d.str(2, f)
		case "brokerId":
			h.BrokerID = d.int64(3, f)
		}
	}
	return d.finish(1<<4-1, unregisterBrokerKeys[:])
}
