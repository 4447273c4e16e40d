// franz_idempotence: produces records with franz-go's default settings (idempotent producer, up to
// 5 in-flight requests per broker) to a new topic, reads them back and exits non-zero unless every
// record is there exactly once, in order. Used by tests/integration/test_idempotence.py and, with
// -replication-factor 3 -interval-ms N (records paced while the test kills the partition's leader),
// by tests/integration/test_cluster_clients.py.
//
//	go run . -bootstrap 127.0.0.1:9092 -topic t -count 2000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz_idempotence: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "broker host:port[,host:port...]")
	topic := flag.String("topic", "franz-idempotence", "topic to create and write")
	count := flag.Int("count", 2000, "records to produce")
	rf := flag.Int("replication-factor", 1, "replication factor of the topic")
	intervalMs := flag.Int("interval-ms", 0, "pause between two records")
	timeoutS := flag.Int("timeout-s", 90, "time for the whole run")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*timeoutS)*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*bootstrap, ",")...))
	if err != nil {
		fail("client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, int16(*rf), nil, *topic); err != nil {
		fail("create topic: %v", err)
	}
	fmt.Printf("created %s\n", *topic)

	for i := 0; i < *count; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: *topic, Value: []byte(fmt.Sprintf("f%05d", i))}, func(r *kgo.Record, err error) {
			if err != nil {
				fail("produce %s: %v", r.Value, err)
			}
		})
		if *intervalMs > 0 {
			time.Sleep(time.Duration(*intervalMs) * time.Millisecond)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		fail("flush: %v", err)
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*bootstrap, ",")...), kgo.ConsumeTopics(*topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		fail("consumer: %v", err)
	}
	defer consumer.Close()
	next := 0
	for next < *count {
		fetches := consumer.PollFetches(ctx)
		if errs := fetches.Errors(); len(errs) > 0 {
			fail("fetch: %v", errs)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("f%05d", next)
			if string(r.Value) != want {
				fail("record at offset %d is %q, want %q (duplicate or gap)", r.Offset, r.Value, want)
			}
			next++
		})
	}
	fmt.Printf("ok: %d records once each, in order\n", next)
}
