// Records where etsy statsd 0.9.0's proxy.js sends each name: npm `hashring` 3.2.0 built
// as proxy.js builds it (every node "host:port" with weight 100, md5, replicas 0), asked
// for the key proxy.js takes from a line (the text before its first ':').
//
// Run by gen_proxy_vectors.sh with tests/cluster_proxy's node_modules; writes proxy.txt
// in the format of relay.txt: "# set", "section hashring replicas=1", "node HOST:PORT"
// lines, then "owners" rows (the owner's index in the node list, names.txt in order).
'use strict';
const fs = require('fs');
const path = require('path');
const HashRing = require('hashring');

const here = __dirname;
const names = fs.readFileSync(path.join(here, 'names.txt'))
  .toString('binary').split('\n').filter((l) => l !== '')
  .map((l) => Buffer.from(l, 'binary'));

const sets = [
  ['one', ['127.0.0.1:8125']],
  ['two', ['10.0.0.1:8125', '10.0.0.2:8125']],
  ['three', ['127.0.0.2:8125', '127.0.0.3:8125', '127.0.0.4:8125']],
  ['three ports on one host', ['127.0.0.1:8125', '127.0.0.1:8127', '127.0.0.1:8129']],
  // 7 nodes: floor((100 / 700) * 40 * 7) is 39, not 40, in floating point
  ['seven', ['s1:8125', 's2:8125', 's3:8125', 's4:8125', 's5:8125', 's6:8125', 's7:8125']],
  ['ten, names and addresses', ['statsd-a.example.com:8125', 'statsd-b.example.com:8125',
    'localhost:8125', '10.1.2.3:9125', '::1:8125', '[fe80::1]:8125', 'x:1', 'y:65535',
    'h\u00e9te:8125', '192.168.0.10:8125']],
];

const out = ['# etsy statsd 0.9.0 proxy.js ring (npm hashring 3.2.0), by gen_proxy_vectors.sh; '
  + 'the key of each names.txt line as proxy.js takes it', ''];
for (const [set, nodes] of sets) {
  const weights = {};
  for (const n of nodes) weights[n] = 100;
  const ring = new HashRing(weights, 'md5', { 'max cache size': 10000, replicas: 0 });
  out.push(`# ${set}`, 'section hashring replicas=1');
  for (const n of nodes) out.push(`node ${n}`);
  const owners = names.map((line) => {
    const key = line.toString().split(':').shift();
    return nodes.indexOf(ring.get(key));
  });
  for (let i = 0; i < owners.length; i += 40) {
    out.push(`owners ${owners.slice(i, i + 40).join(' ')}`);
  }
  out.push('');
}
fs.writeFileSync(path.join(here, 'proxy.txt'), out.join('\n'));
