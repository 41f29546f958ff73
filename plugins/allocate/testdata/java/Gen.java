import java.util.*;
import org.apache.rocketmq.client.consumer.AllocateMessageQueueStrategy;
import org.apache.rocketmq.client.consumer.rebalance.*;
import org.apache.rocketmq.common.message.MessageQueue;

// Draws pseudo-random rebalance inputs and prints, one JSON object a line, what each Java
// strategy answers, as indices into the sorted queue list (-1 for a queue not in it), or
// the message of the IllegalArgumentException it threw. A queue is [topic, brokerName, queueId].
public class Gen {
    static final String[] BROKERS = {"broker-a", "broker-b", "room1@broker-a", "room1@broker-b",
        "room2@broker-c", "room3@broker-d", "a@b@", "@x", "r@@", "x@y@z", "@", "room1@"};
    static final String[] ROOMS = {"room1", "room2", "room3", "", "a", "r", "x"};

    public static void main(String[] args) {
        Random rnd = new Random(494);
        StringBuilder out = new StringBuilder();
        for (int c = 0; c < 400; c++) {
            int nClients = 1 + rnd.nextInt(c < 350 ? 9 : 40);
            int nQueues = rnd.nextInt(c < 350 ? 20 : 70);
            List<String> cids = new ArrayList<>();
            for (int i = 0; i < nClients; i++) {
                String id = rnd.nextInt(8) == 0 ? "客户端@" + i : "10.0.0." + rnd.nextInt(256) + "@" + (1000 + rnd.nextInt(9000));
                cids.add(id);
            }
            if (rnd.nextInt(10) == 0 && nClients > 1) cids.set(1, cids.get(0)); // a duplicate id
            Set<MessageQueue> mqSet = new HashSet<>();
            String topic = rnd.nextInt(4) == 0 ? "TopicTest" : "t" + rnd.nextInt(3);
            for (int i = 0; i < nQueues; i++) {
                mqSet.add(new MessageQueue(topic, BROKERS[rnd.nextInt(BROKERS.length)], rnd.nextInt(16)));
            }
            List<MessageQueue> mqAll = new ArrayList<>(mqSet);
            Collections.sort(mqAll);
            Collections.sort(cids);
            String self;
            switch (rnd.nextInt(12)) {
                case 0: self = "not-a-member"; break;
                case 1: self = ""; break;
                default: self = cids.get(rnd.nextInt(cids.size()));
            }
            int vnodes = rnd.nextInt(4) == 0 ? rnd.nextInt(30) : 10;
            Set<String> rooms = new HashSet<>();
            for (int i = rnd.nextInt(3); i > 0; i--) rooms.add(ROOMS[rnd.nextInt(ROOMS.length)]);
            List<MessageQueue> config = new ArrayList<>();
            for (int i = rnd.nextInt(4); i > 0; i--) {
                if (!mqAll.isEmpty() && rnd.nextBoolean()) config.add(mqAll.get(rnd.nextInt(mqAll.size())));
                else config.add(new MessageQueue(topic, "elsewhere", i));
            }
            List<String> clients = rnd.nextInt(20) == 0 ? new ArrayList<>() : cids;

            AllocateMessageQueueByMachineRoom room = new AllocateMessageQueueByMachineRoom();
            room.setConsumeridcs(rooms);
            AllocateMessageQueueByConfig byConfig = new AllocateMessageQueueByConfig();
            byConfig.setMessageQueueList(config);
            AllocateMessageQueueStrategy[] strategies = {new AllocateMessageQueueAveragely(),
                new AllocateMessageQueueAveragelyByCircle(), new AllocateMessageQueueConsistentHash(vnodes),
                byConfig, room};
            out.append("{\"self\":").append(q(self)).append(",\"clients\":[");
            for (int i = 0; i < clients.size(); i++) out.append(i > 0 ? "," : "").append(q(clients.get(i)));
            out.append("],\"queues\":[");
            for (int i = 0; i < mqAll.size(); i++) out.append(i > 0 ? "," : "").append(mq(mqAll.get(i)));
            out.append("],\"vnodes\":").append(vnodes).append(",\"rooms\":[");
            int k = 0;
            for (String r : new TreeSet<>(rooms)) out.append(k++ > 0 ? "," : "").append(q(r));
            out.append("],\"config\":[");
            for (int i = 0; i < config.size(); i++) out.append(i > 0 ? "," : "").append(mq(config.get(i)));
            out.append("],\"results\":{");
            for (int j = 0; j < strategies.length; j++) {
                AllocateMessageQueueStrategy s = strategies[j];
                out.append(j > 0 ? "," : "").append(q(s.getName())).append(":");
                try {
                    List<MessageQueue> got = s.allocate("group", self, mqAll, clients);
                    out.append("[");
                    for (int i = 0; i < got.size(); i++) out.append(i > 0 ? "," : "").append(mqAll.indexOf(got.get(i)));
                    out.append("]");
                } catch (IllegalArgumentException e) {
                    out.append(q(e.getMessage()));
                }
            }
            out.append("}}\n");
        }
        System.out.print(out);
    }

    static String mq(MessageQueue m) {
        return "[" + q(m.getTopic()) + "," + q(m.getBrokerName()) + "," + m.getQueueId() + "]";
    }

    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') b.append('\\');
            b.append(ch);
        }
        return b.append('"').toString();
    }
}
