// Applied in this order. Append new migrations at the end; never edit one that has shipped.
import { Foundation1764360000000 } from './1764360000000-Foundation';
import { KeyChangeNotify1764370000000 } from './1764370000000-KeyChangeNotify';

export const migrations = [Foundation1764360000000, KeyChangeNotify1764370000000];
