"""Small gold files in the formats docmill eval reads (CoNLL-U with entities, CoNLL-2003)."""

CONLLU = """\
# newdoc id = d1
# newpar id = p1
# sent_id = 1
# text = Hello world!
1\tHello\thello\tINTJ\tUH\t_\t0\troot\t_\t_
2\tworld\tworld\tNOUN\tNN\t_\t1\tvocative\t_\tSpaceAfter=No
3\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_

# sent_id = 2
# text = I don't.
1\tI\tI\tPRON\tPRP\t_\t2\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No
2\tdo\tdo\tAUX\tVBP\t_\t0\troot\t_\t_
3\tn't\tnot\tPART\tRB\t_\t2\tadvmod\t_\t_
4\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_

# newpar id = p2
# sent_id = 3
# text = Gonna go.
1-2\tGonna\t_\t_\t_\t_\t_\t_\t_\t_
1\tGon\tgo\tVERB\tVBG\t_\t0\troot\t_\t_
2\tta\tto\tPART\tTO\t_\t3\tmark\t_\t_
3\tgo\tgo\tVERB\tVB\t_\t1\txcomp\t_\tSpaceAfter=No
3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t1:conj\t_
4\t.\t.\tPUNCT\t.\t_\t1\tpunct\t_\t_

# newdoc id = d2
# text = Bye.
1\tBye\tbye\tINTJ\tUH\t_\t0\troot\t_\tSpaceAfter=No
2\t.\t.\tPUNCT\t.\t_\t1\tpunct\t_\t_
"""

CONLL = """\
EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O

New NNP I-NP I-LOC
York NNP I-NP I-LOC
B-Side NNP I-NP B-LOC
Paris NNP I-NP I-ORG
"""
