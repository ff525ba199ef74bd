// Applied in this order. Append new migrations at the end; never edit one that has shipped.
import { Foundation1764360000000 } from './1764360000000-Foundation';
import { RateLimits1764370000000 } from './1764370000000-RateLimits';
import { Workflows1764370100000 } from './1764370100000-Workflows';
import { KeyChangeNotify1764370200000 } from './1764370200000-KeyChangeNotify';
import { Storage1764400000000 } from './1764400000000-Storage';
import { StorageTreeNotify1765000000000 } from './1765000000000-StorageTreeNotify';
import { JsonAsSent1765100000000 } from './1765100000000-JsonAsSent';
import { WorkflowSigningSecrets1765100000001 } from './1765100000001-WorkflowSigningSecrets';
import { ManageWorkflowsAndTeammates1765200000000 } from './1765200000000-ManageWorkflowsAndTeammates';
import { RunEvents1765300000000 } from './1765300000000-RunEvents';
import { RunQueue1765300000001 } from './1765300000001-RunQueue';
import { RunEventLog1765400000000 } from './1765400000000-RunEventLog';
import { Conversations1765450000000 } from './1765450000000-Conversations';
import { StorageVersionsAndTrash1765500000000 } from './1765500000000-StorageVersionsAndTrash';
import { Search1765600000000 } from './1765600000000-Search';
import { RequestLogCounts1765800000000 } from './1765800000000-RequestLogCounts';
import { TimeOrderedRunIds1765800000001 } from './1765800000001-TimeOrderedRunIds';
import { RunsPartitionedByDay1765900000000 } from './1765900000000-RunsPartitionedByDay';
import { PendingTextReads1766000000000 } from './1766000000000-PendingTextReads';

export const migrations = [
  Foundation1764360000000,
  RateLimits1764370000000,
  Workflows1764370100000,
  KeyChangeNotify1764370200000,
  Storage1764400000000,
  StorageTreeNotify1765000000000,
  JsonAsSent1765100000000,
  WorkflowSigningSecrets1765100000001,
  ManageWorkflowsAndTeammates1765200000000,
  RunEvents1765300000000,
  RunQueue1765300000001,
  RunEventLog1765400000000,
  Conversations1765450000000,
  StorageVersionsAndTrash1765500000000,
  Search1765600000000,
  RequestLogCounts1765800000000,
  TimeOrderedRunIds1765800000001,
  RunsPartitionedByDay1765900000000,
  PendingTextReads1766000000000,
];
