package io.vitstream.kafka;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Writes to the compacted state topics: model versions (all records in one transaction) and the control record. */
public final class Publisher {
    private Publisher() {}

    /**
     * Sends {@code records} in one transaction, so read_committed readers see all of them or none.
     *
     * @param clientSettings at least {@code bootstrap.servers}; security settings pass through
     */
    public static void sendAtomically(Map<String, Object> clientSettings, List<ProducerRecord<String, byte[]>> records) {
        Map<String, Object> p = new HashMap<>(clientSettings);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "vitstream-publisher-" + UUID.randomUUID());
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 2 * 1024 * 1024);
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(),
                new ByteArraySerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            for (ProducerRecord<String, byte[]> r : records) {
                producer.send(r);
            }
            producer.commitTransaction();
        }
    }

    /** Publishes a model version (see {@link ModelRecords}). */
    public static void publishModel(Map<String, Object> clientSettings, ModelRecords.Publication publication) {
        sendAtomically(clientSettings, publication.records());
    }

    /** Replaces the desired state on {@link Topics#CONTROL}. */
    public static void setControl(Map<String, Object> clientSettings, ControlMessage control) {
        String problem = control.problem();
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        sendAtomically(clientSettings, List.of(new ProducerRecord<>(Topics.CONTROL, Topics.CONTROL_KEY,
                ControlMessage.SERDE.serialize(Topics.CONTROL, control))));
    }
}
