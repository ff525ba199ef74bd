// Applied in this order. Append new migrations at the end; never edit one that has shipped.
import { Foundation1764360000000 } from './1764360000000-Foundation';
import { Storage1764400000000 } from './1764400000000-Storage';

export const migrations = [Foundation1764360000000, Storage1764400000000];
