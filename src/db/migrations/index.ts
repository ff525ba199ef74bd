// Applied in this order. Append new migrations at the end; never edit one that has shipped.
import { Foundation1764360000000 } from './1764360000000-Foundation';

export const migrations = [Foundation1764360000000];
