import { serviceSkip, tempNatsLog } from '../../test/support/services.ts';
import { logContract } from './contract.ts';

logContract('NATS JetStream', { open: () => tempNatsLog() }, { skip: await serviceSkip('NATS') });
